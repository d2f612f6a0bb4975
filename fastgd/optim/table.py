"""One row per update rule: the table the optimizer classes, the CLI, the benchmarks and
the tests all read.

Design: a row holds everything that connects a user's options to the C kernel — the C
enum (read from the compiled module, which takes it from ``_optim.pxd``: never a
hand-copied number), the state arrays the rule keeps and the option that switches each on,
how each option reaches an ``fg_step`` field, the defaults, and the non-default values the
tests try. Adding a rule is a reference function (fastgd/reference/optim.py), a row here, a
class in ``rules.py`` and a C body with its per-step scalars (csrc/fg_optim_impl.h); its
tests come from the registry built on this table.

The specification side does not read this table: ``fastgd.reference``'s classes declare
their own state names and defaults and pass the user's option names straight to the NumPy
rules, so a wrong row here shows up as a parity failure instead of being copied into the
specification.
"""
from dataclasses import dataclass, field

from fastgd.optim import _optim

__all__ = ["Field", "State", "Row", "ROWS", "by_class", "by_name"]


@dataclass(frozen=True)
class Field:
    """How one ``fg_step`` field is computed from a param group: the option's value, one
    item of it (``betas[0]``), or whether it equals a value (``buffer_init == "grad"``)."""
    option: str
    index: int = None
    equals: object = None

    def __call__(self, group):
        value = group[self.option]
        if self.index is not None:
            return value[self.index]
        if self.equals is not None:
            return value == self.equals
        return value


@dataclass(frozen=True)
class State:
    """One state array: its name (torch's), the flag option that switches it on (None:
    always kept; for a number, kept when it is non-zero) and the option holding its start
    value (None: zeros)."""
    name: str
    when: str = None
    init: str = None

    def kept(self, group):
        return self.when is None or bool(group[self.when])


@dataclass(frozen=True)
class Row:
    name: str                   # the CLI's name
    cls_name: str               # the class, in fastgd and in fastgd.reference
    rule: int                   # the fg_rule enum value, from _optim.pxd
    state: tuple                # up to three State slots, in the kernel's s1, s2, s3 order
    fields: dict                # fg_step field -> Field
    defaults: dict              # option -> default, as the class's signature has them
    variants: tuple = ()        # non-default option sets the tests try (each valid alone)
    fixed: dict = field(default_factory=dict)   # options the class sets, not the user
    scalar_state: tuple = ()    # per-group numbers carried between steps

    def hyper(self, group):
        """The group's fg_step fields (without the step number)."""
        return {"rule": self.rule, **{k: f(group) for k, f in self.fields.items()}}

    def state_names(self, group):
        """The three state slots' names for this group's options (None where unused)."""
        names = [s.name if s.kept(group) else None for s in self.state]
        return tuple(names + [None] * (3 - len(names)))

    @property
    def options(self):
        """Every option a param group of this rule holds."""
        return tuple(self.defaults) + tuple(self.fixed)


def _same(*options):
    return {o: Field(o) for o in options}


_R = _optim.fg_rule
# every rule's state can be kept out of the subnormal range (reference.optim.flush_subnormal)
_FLUSH = "flush_subnormal_state"
_ADAM_FIELDS = {"beta1": Field("betas", 0), "beta2": Field("betas", 1),
                **_same("lr", "eps", "weight_decay", _FLUSH)}

ROWS = (
    Row("sgd", "SGD", _R.FG_SGD,
        state=(State("momentum_buffer", when="momentum"),),
        fields={**_same("lr", "momentum", "dampening", "weight_decay", "nesterov",
                        "maximize", "lr_in_momentum", _FLUSH),
                "buffer_init_grad": Field("buffer_init", equals="grad")},
        defaults=dict(lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                      nesterov=False, maximize=False, buffer_init="grad",
                      lr_in_momentum=False,
                      flush_subnormal_state=False),
        variants=(dict(lr=0.05), dict(momentum=0.9), dict(momentum=0.9, dampening=0.3),
                  dict(weight_decay=0.1), dict(momentum=0.9, nesterov=True),
                  dict(maximize=True), dict(momentum=0.9, buffer_init="zeros"),
                  dict(momentum=0.9, lr_in_momentum=True),
                  dict(momentum=0.9, lr_in_momentum=True, nesterov=True,
                       weight_decay=0.1),
                  dict(momentum=0.9, flush_subnormal_state=True))),
    Row("momentum", "Momentum", _R.FG_MOMENTUM,
        state=(State("velocity"),),
        fields={"lr": Field("lr"), "momentum": Field("beta"), _FLUSH: Field(_FLUSH),
                "bias_correction": Field("bias_correction"),
                "buffer_init_grad": Field("buffer_init", equals="grad")},
        defaults=dict(lr=1e-2, beta=0.9, bias_correction=False, buffer_init="zeros",
                      flush_subnormal_state=False),
        variants=(dict(lr=0.05), dict(beta=0.7), dict(bias_correction=True),
                  dict(buffer_init="grad"),
                  dict(flush_subnormal_state=True))),
    Row("adam", "Adam", _R.FG_ADAM,
        state=(State("exp_avg"), State("exp_avg_sq"), State("max_exp_avg_sq", when="amsgrad")),
        fields={**_ADAM_FIELDS, **_same("amsgrad", "maximize", "epsilon_hat",
                                        "decoupled_weight_decay")},
        defaults=dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                      amsgrad=False, maximize=False, epsilon_hat=False,
                      decoupled_weight_decay=False,
                      flush_subnormal_state=False),
        variants=(dict(lr=0.01), dict(betas=(0.8, 0.999)), dict(betas=(0.9, 0.95)),
                  dict(eps=1e-3), dict(weight_decay=0.1), dict(amsgrad=True),
                  dict(maximize=True), dict(epsilon_hat=True, eps=1e-4),
                  dict(weight_decay=0.1, decoupled_weight_decay=True),
                  dict(flush_subnormal_state=True))),
    Row("adamw", "AdamW", _R.FG_ADAM,
        state=(State("exp_avg"), State("exp_avg_sq"), State("max_exp_avg_sq", when="amsgrad")),
        fields={**_ADAM_FIELDS, **_same("amsgrad", "maximize", "epsilon_hat",
                                        "decoupled_weight_decay")},
        defaults=dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                      amsgrad=False, maximize=False, epsilon_hat=False,
                      flush_subnormal_state=False),
        fixed=dict(decoupled_weight_decay=True),
        variants=(dict(lr=0.01), dict(betas=(0.8, 0.99)), dict(eps=1e-3),
                  dict(weight_decay=0.3), dict(amsgrad=True), dict(maximize=True),
                  dict(epsilon_hat=True, eps=1e-4),
                  dict(flush_subnormal_state=True))),
    Row("rmsprop", "RMSprop", _R.FG_RMSPROP,
        state=(State("square_avg"), State("grad_avg", when="centered"),
               State("momentum_buffer", when="momentum")),
        fields={"beta2": Field("alpha"),
                **_same("lr", "eps", "weight_decay", "momentum", "centered",
                        "eps_inside_sqrt", _FLUSH)},
        defaults=dict(lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                      centered=False, eps_inside_sqrt=False,
                      flush_subnormal_state=False),
        variants=(dict(lr=0.003), dict(alpha=0.9), dict(eps=1e-3), dict(weight_decay=0.05),
                  dict(momentum=0.5), dict(centered=True), dict(eps_inside_sqrt=True),
                  dict(centered=True, momentum=0.5, eps_inside_sqrt=True),
                  dict(flush_subnormal_state=True))),
    Row("adagrad", "Adagrad", _R.FG_ADAGRAD,
        state=(State("sum", init="initial_accumulator_value"),),
        fields=_same("lr", "lr_decay", "weight_decay", "eps", _FLUSH),
        defaults=dict(lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                      initial_accumulator_value=0.0, eps=1e-10,
                      flush_subnormal_state=False),
        variants=(dict(lr=0.05), dict(lr_decay=0.1), dict(weight_decay=0.05),
                  dict(initial_accumulator_value=0.3), dict(eps=1e-2),
                  dict(flush_subnormal_state=True))),
    Row("adadelta", "Adadelta", _R.FG_ADADELTA,
        state=(State("square_avg"), State("acc_delta")),
        fields={"beta2": Field("rho"), **_same("lr", "eps", "weight_decay", _FLUSH)},
        defaults=dict(lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0,
                      flush_subnormal_state=False),
        variants=(dict(lr=0.5), dict(rho=0.7), dict(eps=1e-3), dict(weight_decay=0.05),
                  dict(flush_subnormal_state=True))),
    Row("adamax", "Adamax", _R.FG_ADAMAX,
        state=(State("exp_avg"), State("exp_inf")),
        fields=_ADAM_FIELDS,
        defaults=dict(lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                      flush_subnormal_state=False),
        variants=(dict(lr=0.01), dict(betas=(0.8, 0.999)), dict(betas=(0.9, 0.5)),
                  dict(eps=1e-2), dict(weight_decay=0.05),
                  dict(flush_subnormal_state=True))),
    Row("nadam", "NAdam", _R.FG_NADAM,
        state=(State("exp_avg"), State("exp_avg_sq")),
        fields={**_ADAM_FIELDS, **_same("momentum_decay", "decoupled_weight_decay")},
        defaults=dict(lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                      momentum_decay=4e-3, decoupled_weight_decay=False,
                      flush_subnormal_state=False),
        variants=(dict(lr=0.01), dict(betas=(0.8, 0.999)), dict(betas=(0.9, 0.95)),
                  dict(eps=1e-3), dict(weight_decay=0.05), dict(momentum_decay=0.05),
                  dict(weight_decay=0.05, decoupled_weight_decay=True),
                  dict(flush_subnormal_state=True)),
        scalar_state=("mu_product",)),
    Row("radam", "RAdam", _R.FG_RADAM,
        state=(State("exp_avg"), State("exp_avg_sq")),
        fields={**_ADAM_FIELDS, **_same("decoupled_weight_decay")},
        defaults=dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                      decoupled_weight_decay=False,
                      flush_subnormal_state=False),
        variants=(dict(lr=0.01), dict(betas=(0.8, 0.999)), dict(betas=(0.9, 0.9)),
                  dict(eps=1e-3), dict(weight_decay=0.05),
                  dict(weight_decay=0.05, decoupled_weight_decay=True),
                  dict(flush_subnormal_state=True))),
)

_BY_CLASS = {row.cls_name: row for row in ROWS}
_BY_NAME = {row.name: row for row in ROWS}


def by_class(cls_name):
    return _BY_CLASS[cls_name]


def by_name(name):
    return _BY_NAME[name]
