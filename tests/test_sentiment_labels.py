"""The transformers sentiment backend with a Russian model from a local directory: label mapping for the
label sets published sentiment models use (rubert-tiny2 style), checked on tiny random-weight BERT
classifiers this test builds (the weights are random: what is checked is that each label's probability
gets the value its label means, not what the model predicts)."""

from __future__ import annotations

import math

import pytest

from callqa.pipeline.config import load_config
from callqa.pipeline.errors import ConfigError
from callqa.pipeline.signals import compute_signals
from callqa.pipeline.types import Transcript, Turn

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

WORDS = ["ужасно", "спасибо", "карта", "отлично", "плохо", "очень", "вы", "мне", "помогли", "не", "работает"]
TEXTS = ["Это ужасно, карта не работает.", "Спасибо, вы мне очень помогли.", "Карта.", "Отлично!"]


def build(path, id2label: dict[int, str], seed: int):
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]"] + WORDS)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", model_max_length=32)
    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=32, max_position_embeddings=32, num_labels=len(id2label),
                     id2label=id2label, label2id={v: k for k, v in id2label.items()})
    model = BertForSequenceClassification(cfg)
    with torch.no_grad():  # random weights, but far from uniform, so a wrong mapping shows
        model.classifier.weight.mul_(40.0)
        model.classifier.bias.copy_(torch.linspace(-1.5, 1.5, len(id2label)))
    model.eval()
    model.save_pretrained(path)
    fast.save_pretrained(path)
    return model, fast


def probabilities(model, fast, text: str) -> list[float]:
    with torch.no_grad():
        logits = model(**fast([text], return_tensors="pt", truncation=True)).logits[0]
    return torch.softmax(logits, -1).tolist()


def scores(path, texts=TEXTS, label_map=None) -> list[float]:
    sent = {"backend": "transformers", "model": str(path), "fallback_to_lexicon": False}
    if label_map is not None:
        sent["label_map"] = label_map
    cfg = load_config(overrides={"models": {"sentiment": sent}})
    tr = Transcript(turns=tuple(Turn("client", 2.0 * i, 2.0 * i + 1.5, t) for i, t in enumerate(texts)),
                    language="ru", duration_s=2.0 * len(texts))
    sig = compute_signals(tr, cfg)
    s = sig.serialize()["sentiment"]
    assert s["backend"] == "transformers" and sig.sentiment_model == str(path)  # used when configured
    return [p["score"] for p in s["per_turn"]]


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.mark.parametrize("id2label, values", [
    # cointegrated/rubert-tiny-sentiment-balanced
    ({0: "negative", 1: "neutral", 2: "positive"}, [-1.0, 0.0, 1.0]),
    # seara/rubert-tiny2-russian-sentiment
    ({0: "neutral", 1: "positive", 2: "negative"}, [0.0, 1.0, -1.0]),
    # blanchefort/rubert-base-cased-sentiment
    ({0: "NEUTRAL", 1: "POSITIVE", 2: "NEGATIVE"}, [0.0, 1.0, -1.0]),
    # two-class models
    ({0: "NEGATIVE", 1: "POSITIVE"}, [-1.0, 1.0]),
])
def test_named_labels_map_by_name_in_any_order(tmp_path, id2label, values):
    model, fast = build(tmp_path, id2label, seed=len(id2label) + sum(map(len, id2label.values())))
    got = scores(tmp_path)
    for text, score in zip(TEXTS, got):
        p = probabilities(model, fast, text)
        assert score == pytest.approx(sum(pi * v for pi, v in zip(p, values)), abs=2e-3), text
        assert max(p) - min(p) > 0.2  # far from uniform: a label given the wrong value would show


def test_unnamed_labels_need_a_label_map(tmp_path):
    # a rubert-tiny2 fine-tune saved without label names: LABEL_0..LABEL_2 mean nothing by themselves
    model, fast = build(tmp_path, {0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"}, seed=7)
    with pytest.raises(ConfigError, match=r"label_map.*LABEL_0, LABEL_1, LABEL_2"):
        scores(tmp_path)
    # the model card says 0 = neutral, 1 = positive, 2 = negative: by name or by class index
    by_name = scores(tmp_path, label_map={"LABEL_0": 0, "LABEL_1": 1, "LABEL_2": -1})
    by_index = scores(tmp_path, label_map={"0": 0, "1": 1, "2": -1})
    assert by_name == by_index
    for text, score in zip(TEXTS, by_name):
        p = probabilities(model, fast, text)
        assert score == pytest.approx(p[1] - p[2], abs=2e-3), text
    # a typo in the map is named, not ignored
    with pytest.raises(ConfigError, match="LABEL_3: not a label"):
        scores(tmp_path, label_map={"LABEL_0": 0, "LABEL_1": 1, "LABEL_3": -1})
    with pytest.raises(ConfigError, match="outside -1..1"):
        scores(tmp_path, label_map={"LABEL_0": 0, "LABEL_1": 5, "LABEL_2": -1})


def test_an_emotion_model_maps_through_the_label_map(tmp_path):
    # e.g. cointegrated/rubert-tiny2-cedr-emotion-detection: emotions, not polarity; the map says which is which
    labels = {0: "no_emotion", 1: "joy", 2: "sadness", 3: "surprise", 4: "fear", 5: "anger"}
    model, fast = build(tmp_path, labels, seed=11)
    with pytest.raises(ConfigError, match="joy"):
        scores(tmp_path)
    m = {"no_emotion": 0, "joy": 1, "sadness": -0.7, "surprise": 0, "fear": -0.7, "anger": -1}
    got = scores(tmp_path, label_map=m)
    for text, score in zip(TEXTS, got):
        p = probabilities(model, fast, text)
        want = sum(pi * m[labels[i]] for i, pi in enumerate(p)) / math.fsum(p)
        assert score == pytest.approx(want, abs=2e-3), text
