"""Registry of optimizer option combinations for the parity tests.

Every entry is (name, kwargs): name indexes both fastgd.optim.OPTIMIZERS and
fastgd.reference.OPTIMIZERS, so each case runs the C kernel and its NumPy twin."""
CASES = [
    ("SGD", dict(lr=0.05)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, maximize=True)),
    ("SGD", dict(lr=0.05, momentum=0.9, buffer_init="zeros")),
    ("SGD", dict(lr=0.05, momentum=0.9, lr_in_momentum=True)),
    ("SGD", dict(lr=0.05, momentum=0.9, lr_in_momentum=True, nesterov=True, weight_decay=0.1)),
    ("Momentum", dict(lr=0.05)),
    ("Momentum", dict(lr=0.05, beta=0.8, bias_correction=True)),
    ("Momentum", dict(lr=0.05, buffer_init="grad")),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.05)),
    ("Adam", dict(lr=0.01, epsilon_hat=True, eps=1e-7)),
    ("Adam", dict(lr=0.01, maximize=True, betas=(0.8, 0.99))),
    ("Adam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, amsgrad=True, weight_decay=0.3)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, centered=True)),
    ("RMSprop", dict(lr=0.01, momentum=0.9, weight_decay=0.01)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5, eps_inside_sqrt=True)),
    ("Adagrad", dict(lr=0.05)),
    ("Adagrad", dict(lr=0.05, lr_decay=0.01, initial_accumulator_value=0.1,
                     weight_decay=0.01)),
    ("Adadelta", dict()),
    ("Adadelta", dict(lr=0.5, rho=0.8, weight_decay=0.01)),
    ("Adamax", dict()),
    ("Adamax", dict(weight_decay=0.01, betas=(0.8, 0.99))),
    ("NAdam", dict()),
    ("NAdam", dict(weight_decay=0.01)),
    ("NAdam", dict(weight_decay=0.01, decoupled_weight_decay=True, momentum_decay=0.01)),
    ("RAdam", dict()),
    ("RAdam", dict(weight_decay=0.01)),
    ("RAdam", dict(weight_decay=0.01, decoupled_weight_decay=True)),
]


def case_id(case):
    name, kwargs = case
    return name + "".join(f"-{k}={v}" for k, v in kwargs.items())
