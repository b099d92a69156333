"""Small building blocks every other part of core uses: user-facing errors, atomic writes, where files live, checks
of values read from files, prompt files, the Hugging Face cache layout.
"""
