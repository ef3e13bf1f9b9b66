"""The knowledge wing: what mlship knows about deployment patterns, read from data.

Pattern models and their loader (``patterns``), the conditions their rules use
(``conditions``), the answer fields (``fields``), the questionnaire (``questions``) and
the sizing figures (``sizing``). No I/O beyond loading the shipped YAML.
"""
