"""The papers' theory as an instrument: Jacobians of update fields, their spectra, phase and
conditioning factors, step-size bounds (docs/methods.md §4–§6)."""
