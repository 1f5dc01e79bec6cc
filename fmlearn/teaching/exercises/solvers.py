"""Notebook 05, speed vs quality: one step of Heun's, the midpoint and the classic Runge-Kutta method."""
from __future__ import annotations

from ... import ode
from .inputs import step_inputs
from .registry import exercise


@exercise(None, "heun_step(velocity, x, t, h)  # one step of Heun's method (explicit trapezoid), 2 evaluations",
          step_inputs,
          {"Heun averages the slope at the start and at the Euler-predicted end: (k1 + k2) / 2.":
               lambda f, x, t, h: x + h * f(x + h * f(x, t), t + h)})
def heun_step(f, x, t, h):
    return ode.INTEGRATORS["heun"](f, x, t, h)


@exercise("5.1", "midpoint_step(velocity, x, t, h)  # one step of the explicit midpoint method, 2 evaluations",
          step_inputs,
          {"Evaluate the second slope at time t + h/2 too, not at t.":
               lambda f, x, t, h: x + h * f(x + 0.5 * h * f(x, t), t)})
def midpoint_step(f, x, t, h):
    return ode.INTEGRATORS["midpoint"](f, x, t, h)


def _rk4_equal_weights(f, x, t, h):
    k1 = f(x, t)
    k2 = f(x + 0.5 * h * k1, t + 0.5 * h)
    k3 = f(x + 0.5 * h * k2, t + 0.5 * h)
    k4 = f(x + h * k3, t + h)
    return x + h * (k1 + k2 + k3 + k4) / 4


@exercise("5.2", "rk4_step(velocity, x, t, h)  # one step of the classic fourth-order Runge-Kutta method", step_inputs,
          {"The weights are (k1 + 2 k2 + 2 k3 + k4) / 6.": _rk4_equal_weights})
def rk4_step(f, x, t, h):
    return ode.INTEGRATORS["rk4"](f, x, t, h)
