"""The recommend wing: answers in, a ranked and explained pattern and a decision record out.

``answers`` reads and validates the questionnaire's answers, ``engine`` scores the
patterns, ``estimates``/``stack``/``risks`` size the stack and say what cannot work,
``docs`` generates the pattern pages from the knowledge base.
"""
