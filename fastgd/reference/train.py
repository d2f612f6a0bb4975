"""fit() in plain NumPy: fastgd.training.train's epoch loop with NumPy forward/backward passes and
whatever optimizer is passed (use the fastgd.reference twins for an all-NumPy run).

Same signature and semantics as fastgd.fit, same batches (fastgd.batching), same History.
"""
import numpy as np

from fastgd.reference import mlp as ref


def fit(model, X, y, optimizer, *, epochs, batch_size, shuffle=True, seed=None,
        schedule=None, callbacks=(), validation_data=None, verbose=0, drop_last=False,
        loss=None, initial_epoch=0, n_threads=None, callback_every=None):
    from fastgd.training import train as _train
    run = _train._prepare(model, X, y, optimizer, epochs, batch_size, shuffle, seed,
                          schedule, callbacks, validation_data, verbose, drop_last, loss,
                          initial_epoch, callback_every)

    def grad_fn(Xb, targets):
        params = model.parameters()
        if loss is None:
            value, grads = ref.data_loss_and_grads(params, Xb, targets, model.activation,
                                                   model.output, model.alpha)
        else:
            logits, inputs = ref.forward(params, Xb, model.activation)
            value, dlogits = loss(logits, targets)
            grads = ref.backward(params, inputs, np.asarray(dlogits, model.dtype),
                                 model.activation, model.alpha)
        return float(value), _train._in_optimizer_order(model, optimizer, grads)

    def runner(order, b0, b1, lrs):
        return _train.python_epoch(run, optimizer, order, b0, b1, lrs, grad_fn)

    return _train.run_epochs(run, model, optimizer, schedule, runner, fast_path=False)
