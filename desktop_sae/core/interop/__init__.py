"""Other tools' formats: Neuronpedia's steering requests and saved outputs."""
