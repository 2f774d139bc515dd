"""How well a model predicts real pieces: the scoring lives in melody.nn.likelihood (training
scores its held-out pieces with it too); this module adds the table `melody eval` prints."""

from __future__ import annotations

from melody.nn.likelihood import (BATCH_TOKENS, DEFAULT_STRIDE_FRACTION, LikelihoodResult, ScoredPiece,
                                  evaluate_likelihood, method_of, piece_nll, summarize, windows)

__all__ = ["BATCH_TOKENS", "DEFAULT_STRIDE_FRACTION", "LikelihoodResult", "ScoredPiece", "evaluate_likelihood",
           "format_results", "method_of", "piece_nll", "summarize", "windows"]


def format_results(results: dict[str, LikelihoodResult]) -> str:
    """An aligned table: one row per named model, nats/token, bits/token, bits/note."""
    header = ("model", "pieces", "tokens", "notes", "nats/token", "bits/token", "bits/note")
    rows = [header] + [(name, str(r.pieces), str(r.tokens), str(r.notes), f"{r.nats_per_token:.4f}",
                        f"{r.bits_per_token:.4f}", f"{r.bits_per_note:.3f}") for name, r in results.items()]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
                     for row in rows)
