"""Rolling log-likelihood windows (lm-eval's loglikelihood_rolling, perplexity), shared by the engines that score
whole documents: the offline vLLM worker and the vLLM server's client.

A document is tokenized as lm-eval's vLLM model tokenizes it (the tokenizer's default special tokens) and cut into
disjoint windows of at most `max_model_len` - 2 predicted tokens: the first conditioned on the BOS token (EOS where
there is none), each later one on the tokens before it. Its log-likelihood is the sum over the windows of the
predicted tokens' log-probabilities.
"""

from __future__ import annotations

from typing import Any


def document_windows(tokenizer: Any, text: str, max_model_len: int) -> list[tuple[list[int], list[int]]]:
    prefix = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    return rolling_windows(tokenizer.encode(text), prefix, max_model_len - 2)


def rolling_windows(tokens: list[int], prefix: int, max_seq_len: int) -> list[tuple[list[int], list[int]]]:
    """(context, predicted) token windows covering `tokens` once, as lm-eval's rolling windows made disjoint: the
    first predicts up to `max_seq_len` tokens after `prefix`; each next one up to `max_seq_len` more, its context
    the tokens before them that fill the window to `max_seq_len` + 1."""
    if not tokens:
        return []
    first = min(max_seq_len, len(tokens))
    windows = [([prefix], tokens[:first])]
    done = first
    while done < len(tokens):
        n = min(len(tokens) - done, max_seq_len)
        end = done + n
        windows.append((tokens[end - max_seq_len - 1:end - n], tokens[end - n:end]))
        done = end
    return windows
