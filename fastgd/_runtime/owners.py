"""Which model owns a parameter array: what lets a pickled optimizer find its model again.

An optimizer built on ``model.parameters()`` holds views into the model's flat buffer.
Pickled naively, each view becomes an independent copy, so after ``pickle.loads((model,
opt))`` the optimizer would update arrays that are no longer the model's (and ``fit``
refuses the pair). A model registers its parameter arrays here; an optimizer's
``__reduce__`` then stores "parameter i of that model" and pickle's memo makes the model
and the optimizer share one rebuilt model. The registry holds weak references only.
"""
import weakref

_OWNERS = weakref.WeakValueDictionary()   # id(array) -> the object that owns it


def register(owner, arrays):
    """Record ``owner`` as the owner of each array (``owner.parameters()`` lists them)."""
    for a in arrays:
        _OWNERS[id(a)] = owner


def owner_of(array):
    """``(owner, index)`` with ``owner.parameters()[index] is array``, or None."""
    owner = _OWNERS.get(id(array))
    if owner is None:
        return None
    for i, p in enumerate(owner.parameters()):
        if p is array:
            return owner, i
    return None
