"""Where model weights come from: the embedded default, a Hugging Face id, or a local folder."""
