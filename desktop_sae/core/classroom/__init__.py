"""Teaching: lessons and their narration, the mystery-feature quiz, the neuron view and the toy models (toy/)."""
