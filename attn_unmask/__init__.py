__version__ = "0.1.0"

# The public API at the top level: `import attn_unmask as au; au.recover(W, B)`. Reading order = layering: model maths,
# derivatives, the problem and its solvers, the closed form, the orchestrator, then what uses them. None of these imports
# transformers; the model adapters and the text attack import it only when called.
from .core import *
from .testing import *
from .heads import *
from .gradient import *
from .hessian import *
from .problem import *
from .solvers import *
from .congruence import *
from .gauge import *
from .completion import *
from .closed_form import *
from .auto import *
from .noise import *
from .models import *
from .text import *
from .audit import *
from .explorer import explore
