"""The new wing: a ``ProjectSpec`` in, a rendered, committed project out.

``plan`` decides everything before anything is written, ``render`` runs copier,
``model_import``/``model_formats`` bring the user's model in, ``files`` moves the
finished project into place without losing user files, ``vcs`` makes the first commit.
"""
