"""Tamper evidence: the RFC 6962 Merkle tree, Ed25519 signed checkpoints, and verification."""
