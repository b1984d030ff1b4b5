"""Grades: grade definitions and rules as data, customer importance, the qualification review with its
proposals and approval, manual and bulk grade changes, the grade history and grade progress [G1]–[G6]."""
