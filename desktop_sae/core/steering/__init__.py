"""Steering: what a steering row is (feature or vector, strength, unit, method, condition), the strength-unit rule,
the text syntax, the maths applied at the hook, and saved steering vectors.
"""
