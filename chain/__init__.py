"""The pure core: identities, badges, proofs, baking and verification. No I/O."""
