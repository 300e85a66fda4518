"""PAVI's wire shapes, in one place: what the harness may assume about any PAVI, deployed or local.

Every measuring part and the local stand-in import this package; none of them may import the other's
idea of the world (`local_pavi` is one implementation of this contract, not the contract). The
import-linter contracts in pyproject.toml keep it so.

- `payload`: the seq-region schema (upstream's `Pipeline_seq_region`) and payload files.
- `clustal`: the Clustal text the web UI parses.
- `results`: what a completed job's alignment and seq-info must hold, rejected sequences included.
- `api`: routes and job states.
- `execution`: the Step Functions execution input the migration plan's state machine takes.
- `admin`: the local stand-in's own `/_pavi` routes (absent on a deployed PAVI).
"""
