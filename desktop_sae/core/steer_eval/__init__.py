"""Judging steering without a judge model: concept (keywords + the feature re-read), fluency (NLL under the
unsteered model, repetition) and instruction relevance, combined AxBench-style, against prompting and
mean-difference baselines, with the strength chosen on one prompt split and reported on another."""
