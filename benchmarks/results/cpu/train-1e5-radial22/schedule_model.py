"""The model behind the recipe's 22 d points and 2/5 constant rate: the squared error of
the d = 1e5 run, as a fraction of the trivial fit, is a floor f^2 plus an excess X that
each d point of randomised block Kaczmarz at rate eta shrinks by eta (2 - eta) and feeds
by eta^2 s^2 (each step fits its own batch's noise):

    dX/dtau = -eta (2 - eta) X + eta^2 s^2,    X(0) = 1 (the trivial fit),

tau in d points. f is the best L2 fit by an affine function of x and |x|^2 (0.00337,
scripts/rank_floor.py); s is fitted to the 15-d-point run (`../train-1e5-radial/`) at 9,
12 and 15 d points. Pure numpy, a second.

    python benchmarks/results/cpu/train-1e5-radial22/schedule_model.py
"""

import numpy as np

F = 0.00337
RUN = {3: 0.227, 6: 0.0539, 9: 0.0130, 12: 0.00574, 15: 0.00436}  # ../train-1e5-radial/


def error(total, constant, s, f=F, n=6000):
    """The model's error / trivial fit after `total` d points, the rate 1 over the first
    `constant` of them and then decaying linearly to 0; also at each whole d point."""
    x, dt, at = 1.0, total / n, {}
    for i in range(n):
        tau = i * dt
        eta = 1.0 if tau < constant * total else (total - tau) / (total * (1 - constant))
        x += dt * (-eta * (2 - eta) * x + eta**2 * s**2)
        at[round(tau + dt, 6)] = np.sqrt(f**2 + x)
    return np.sqrt(f**2 + x), at


def fit_s():
    def misfit(s):
        at = error(15, 2 / 3, s, n=3000)[1]
        return sum(np.log(at[k] / v) ** 2 for k, v in RUN.items() if k >= 9)

    return min(np.linspace(0.001, 0.012, 111), key=misfit)


s = fit_s()
_, at = error(15, 2 / 3, s)
print(f"s = {s:.4f}; the 15-d-point run (2/3 constant), model against measured:")
for k, v in RUN.items():
    print(f"  {k:2d} d points: {at[k]:.5f}  {v:.5f}")
print("error / trivial fit at the end, by total d points and constant share:")
shares = (0.3, 0.4, 0.5, 2 / 3)
print("  d points  " + "  ".join(f"{c:7.2f}" for c in shares))
for total in (15, 18, 20, 22, 24):
    row = "  ".join(f"{error(total, c, s)[0]:.5f}" for c in shares)
    print(f"  {total:8d}  {row}")
