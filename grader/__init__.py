"""The autograder of the book's exercises: `python -m grader SUBMISSION.ipynb`.

A grade comes from two kernels. A clean one runs the pristine solution and reports what torch
does on every case of every check; another runs the learner's answers with the pristine checks
and reports what the learner's code does. The grader compares the two reports itself, with the
pass/fail of each check cell (grader.driver runs the cells as nbval's lax mode would), and turns
check cells into task points.
See appendix/grading.md.
"""
