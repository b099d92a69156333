"""Reading features: the catalog a feature browser shows, user labels, the shipped feature dictionary, features of a
text or span, and the contrastive finder.
"""
