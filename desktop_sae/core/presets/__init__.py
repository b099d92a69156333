"""Steering presets: the file format, the SAE identity a preset is checked against, the demo concepts and the preset
store.
"""
