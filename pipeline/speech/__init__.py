"""Audio and speech: decode, speech recognition backends, diarization, roles."""
