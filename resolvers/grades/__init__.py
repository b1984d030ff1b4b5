"""Grades: definitions, rules, customer importance, the qualification review, manual changes."""

from __future__ import annotations

from resolvers.area import Area
from resolvers.grades.fields import GradeMutation, GradeQuery
from resolvers.grades.loaders import loaders

area = Area("grades", query=GradeQuery, mutation=GradeMutation, loaders=loaders)
