"""The check plumbing of each exercise, one module per exercise notebook.

An exercise notebook imports its module in one line (`from grader.tasks.traversal import *`), so
the learner sees the task, the answer cell and the check, not the builders and observers behind
the check. Each module's `__all__` is what the notebook gets: the names its cells use, and the
ones the code of a failing random case uses (`registry_with`, `trained`, `corrupt`, ...).
"""
