"""Remote attestation for RA-TLS: evidence in a node's TLS certificate, verified against a partner's policy.

A node in an SGX enclave (Gramine) puts a DCAP quote in its certificate; the quote's report data binds the
certificate's public key. A partner verifies the quote (Intel's signatures and collateral, with dcap-qvl),
the binding, then its policy for that party, before the link carries a federation message. Nothing here
imports gRPC or storage: the node wires it in (``unseen.node.peer_attestation``).
"""
