"""The exercises' reference solutions: what ``spinrl exercise solution ID`` prints. The checks
never compare with these files; the tests check that each of them passes its checks."""
