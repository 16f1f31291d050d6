"""The hand-computed case shared by the evaluation tests (a helper module, not a test file).

Leaves (sorted = column order): a, b under A > A1; c under A > A2; d under B > B1; e directly
under B (a depth-2 leaf, shallower than the others). Predicted: a (right), b (wrong, sibling),
b (right), d (wrong, other department), d, e.
"""

import numpy as np

from workbench.catalog.taxonomy import Taxonomy

TAX = Taxonomy([("A", "A1", "a"), ("A", "A1", "b"), ("A", "A2", "c"), ("B", "B1", "d"), ("B", "e")],
               ["family", "group", "type"])
CLASSES = TAX.leaves
A, B_, C, D, E = CLASSES
Y = [A, A, B_, C, D, E]
P = np.array([[.90, .05, .05, .00, .00],
              [.20, .60, .10, .10, .00],
              [.10, .80, .10, .00, .00],
              [.00, .00, .30, .70, .00],
              [.00, .00, .00, .60, .40],
              [.00, .00, .00, .30, .70]])
