"""The torch networks: the layers (offline and streaming), the PQMF filter bank, the
NeuroRave auto-encoder and the prior's GRU. The reference of every layer the C++ core
runs; imports only the base layer (neurorave/__init__.py)."""
