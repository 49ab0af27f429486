"""The course: its settings (cnngrade.toml, assignment.toml), its state (the gradebook, the store
of collected originals), the final-grade policy (overrides, late penalties), its data (offline
datasets, hidden splits, the transfer-learning base network) and the errors every stage raises.
The bottom stage: it imports no other stage."""
