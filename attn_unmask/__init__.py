__version__ = "0.1.0"

# The public API at the top level: `import attn_unmask as au; au.recover(W, B)`.
from .core import *
from .heads import *
from .gradient import *
from .hessian import *
from .solvers import *
from .closed_form import *
from .noise import *
from .models import *
from .text import *
from .audit import *
from .explorer import explore
