"""Extensions shipped with wasipy's IPython (load with %load_ext)."""
