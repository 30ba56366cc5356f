"""Sentiment per turn in -1..1: the lexicon scorer (negation, intensifiers, phrases) and a transformers
text-classification model (a tiny one the test trains and saves locally); the client's trajectory."""

from __future__ import annotations

import pytest

from callqa.pipeline.config import load_config
from callqa.pipeline.errors import ModelUnavailable
from callqa.pipeline.signals import compute_signals
from callqa.pipeline.types import Transcript, Turn


def call(turns, lang, duration=None):
    ts = tuple(Turn(s, a, b, text) for s, a, b, text in turns)
    return Transcript(turns=ts, language=lang, duration_s=duration or max(t.end for t in ts))


def score(text, lang, config, speaker="client"):
    tr = call([(speaker, 0.0, 3.0, text)], lang)
    (turn,) = compute_signals(tr, config).serialize()["sentiment"]["per_turn"]
    return turn["score"]


def test_lexicon_negation_and_intensifiers_russian(config):
    bad, not_bad = score("Это плохо.", "ru", config), score("Это не плохо.", "ru", config)
    assert bad < -0.3 and 0 < not_bad < -bad  # "не плохо" is mildly positive
    assert score("Очень хорошо!", "ru", config) > score("Хорошо.", "ru", config) > 0
    # a fault is what the call is about, not how the client feels (issue 10): neutral, never positive
    assert score("Карта не работает.", "ru", config) == 0.0
    assert score("Перестала работать карта.", "ru", config) == 0.0
    assert score("Здравствуйте, у меня проблема с картой.", "ru", config) == 0.0
    assert score("Карта опять не работает, это ужасно!", "ru", config) < -0.5  # emotion words still count
    assert score("Позвоните завтра в десять.", "ru", config) == 0.0
    assert score("Ужасно, отвратительно, кошмар, я в бешенстве, это безобразие!", "ru", config) < -0.9
    assert score("Поможем — и спасибо большое!", "ru", config) <= 1.0


def test_lexicon_negation_and_intensifiers_english(config):
    assert score("This is terrible.", "en", config) < -0.3
    assert 0 < score("Not bad at all.", "en", config) < 0.5
    assert score("Really great, thanks!", "en", config) > score("Great.", "en", config) > 0
    assert score("It does not work again.", "en", config) < -0.3  # "not" negates "work", not "again"
    assert score("Hello, I have a problem with my card.", "en", config) == 0.0  # a topic word
    assert score("There is an error on my bill, the card is broken.", "en", config) == 0.0


def test_client_trajectory_and_operator_mean(config):
    tr = call([("operator", 0.0, 5.0, "Добрый день, слушаю вас."),
               ("client", 5.0, 15.0, "Это возмутительно, у меня опять списали деньги, я очень недоволен!"),
               ("operator", 15.0, 40.0, "Понимаю вас, сейчас всё проверю."),
               ("client", 40.0, 45.0, "Ладно."),
               ("operator", 45.0, 70.0, "Я вернула деньги на карту."),
               ("client", 72.0, 80.0, "Отлично, спасибо большое, вы мне очень помогли!")], "ru", duration=81.0)
    s = compute_signals(tr, config).serialize()["sentiment"]
    assert s["backend"] == "lexicon"
    assert s["client_start"] < -0.5 and s["client_end"] > 0.5
    assert s["client_min"] == pytest.approx(s["client_start"])
    assert s["operator_mean"] is not None and -1 <= s["operator_mean"] <= 1
    assert [p["turn"] for p in s["per_turn"]] == list(range(6))
    assert all(-1 <= p["score"] <= 1 for p in s["per_turn"])


# --- transformers backend -----------------------------------------------------------------------

POS = ["great thanks", "perfect thank you", "thanks great help", "wonderful perfect", "great perfect thanks"]
NEG = ["terrible awful", "awful angry", "angry terrible service", "terrible angry awful", "awful service"]
NEU = ["card account", "my card number", "the account", "number of the card", "account card"]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A tiny BERT classifier trained for a few steps on toy sentences, saved to a local directory."""
    torch = pytest.importorskip("torch")
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

    words = sorted({w for s in POS + NEG + NEU for w in s.split()} | {"is", "it", "was", "very"})
    vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]"] + words)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", model_max_length=32)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: more threads only contend on a busy machine
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=32, max_position_embeddings=32, num_labels=3,
                     id2label={0: "negative", 1: "neutral", 2: "positive"},
                     label2id={"negative": 0, "neutral": 1, "positive": 2})
    model = BertForSequenceClassification(cfg)
    texts = NEG + NEU + POS
    labels = torch.tensor([0] * len(NEG) + [1] * len(NEU) + [2] * len(POS))
    batch = fast(texts, padding=True, return_tensors="pt")
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(40):
        opt.zero_grad()
        loss = model(**batch, labels=labels).loss
        loss.backward()
        opt.step()
    model.eval()
    out = tmp_path_factory.mktemp("tiny-sentiment")
    model.save_pretrained(out)
    fast.save_pretrained(out)
    yield out
    torch.set_num_threads(threads)


TX = [("operator", 0.0, 3.0, "the account number"), ("client", 3.0, 6.0, "terrible awful service"),
      ("operator", 6.0, 9.0, "my card"), ("client", 9.0, 12.0, "great thanks perfect")]


def test_transformers_backend_loads_a_local_model_and_maps_labels(tiny_model):
    cfg = load_config(overrides={"models": {"sentiment": {"backend": "transformers", "model": str(tiny_model),
                                                          "batch_size": 2}}})
    sig = compute_signals(call(TX, "en"), cfg)
    s = sig.serialize()["sentiment"]
    assert s["backend"] == "transformers" and sig.sentiment_model == str(tiny_model)
    scores = [p["score"] for p in s["per_turn"]]
    assert scores[1] < -0.5 and scores[3] > 0.5 and abs(scores[0]) < 0.5
    assert s["client_start"] == pytest.approx(scores[1]) and s["client_end"] == pytest.approx(scores[3])
    # an explicit label map wins over the label names
    flipped = load_config(overrides={"models": {"sentiment": {
        "backend": "transformers", "model": str(tiny_model), "label_map": {"negative": 1, "neutral": 0,
                                                                           "positive": -1}}}})
    f = [p["score"] for p in compute_signals(call(TX, "en"), flipped).serialize()["sentiment"]["per_turn"]]
    assert f[1] == pytest.approx(-scores[1], abs=1e-3) and f[3] == pytest.approx(-scores[3], abs=1e-3)


def test_missing_model_falls_back_to_the_lexicon_or_fails_when_told(tmp_path):
    missing = str(tmp_path / "no-such-model")
    cfg = load_config(overrides={"models": {"sentiment": {"backend": "transformers", "model": missing}}})
    sig = compute_signals(call(TX, "en"), cfg)
    assert sig.serialize()["sentiment"]["backend"] == "lexicon" and sig.sentiment_model == "lexicon"
    assert sig.warnings and missing in sig.warnings[0]
    strict = load_config(overrides={"models": {"sentiment": {"backend": "transformers", "model": missing,
                                                             "fallback_to_lexicon": False}}})
    with pytest.raises(ModelUnavailable, match="no-such-model"):
        compute_signals(call(TX, "en"), strict)


def test_negation_does_not_cross_punctuation_and_acknowledgements_do_not_move_the_trajectory(config):
    assert score("Нет, это всё. Спасибо вам.", "ru", config) > 0.3
    tr = call([("operator", 0.0, 2.0, "Слушаю."), ("client", 2.0, 5.0, "Это ужасно."),
               ("operator", 5.0, 8.0, "Сейчас проверю."), ("client", 8.0, 9.0, "Хорошо."),
               ("operator", 9.0, 12.0, "Готово."), ("client", 12.0, 15.0, "Всё равно плохо.")], "ru")
    s = compute_signals(tr, config).serialize()["sentiment"]
    assert s["client_start"] < -0.3 and s["client_end"] < -0.3  # the lone "Хорошо." is an acknowledgement
