"""Vertical federated learning: the parties hold the same users and different features.

Algorithms here take a :class:`~unseen.runtime.context.Context` and arrays, and know nothing of nodes or jobs.
"""

from unseen.vertical.psi import PsiProtocolError, PsiResult, psi_guest, psi_host

__all__ = ["PsiProtocolError", "PsiResult", "psi_guest", "psi_host"]
