"""DDPG: it is TD3 with one critic, no target policy smoothing and no delay (the three fields of
spinrl.algos.ddpg.FIXED), run for run. The loop it shares with TD3 and SAC is checked in
test_offpolicy.py."""

import spinrl
from conftest import OFF_POLICY_TINY

SMALL = dict(env="Pendulum-v1", seed=0, verbose=False, **OFF_POLICY_TINY)


def _row(result):
    return {k: v for k, v in result.last_row.items() if k != "Time"}


def test_ddpg_is_td3_with_one_critic_no_smoothing_and_no_delay():
    # Same seed, same budget (30 updates): DDPG and TD3 given DDPG's three settings explicitly
    # log bit-identical rows. The settings are written out, not read from ddpg.FIXED, so a
    # DDPG that kept two critics, the smoothing or the delay would fail here.
    ddpg_settings = dict(n_critics=1, target_noise=0.0, policy_delay=1)
    row = _row(spinrl.ddpg(**SMALL))
    assert row == _row(spinrl.td3(**SMALL, **ddpg_settings))
    # The comparison can fail: TD3 with any one of its own settings back logs another row.
    for field, td3_value in dict(n_critics=2, target_noise=0.2, policy_delay=2).items():
        assert _row(spinrl.td3(**SMALL, **{**ddpg_settings, field: td3_value})) != row, field
