__version__ = "0.1.0"

# The public API at the top level: `import attn_unmask as au; au.gradient(...)`.
from .core import *
from .gradient import *
from .hessian import *
from .solvers import *
