"""A project after ``mlship new``: ``update`` (render again and merge with git) and ``check``
(does the project still follow the golden path). Neither imports the other wings: the CLI
hands ``update`` the renderer of ``mlship.new``."""
