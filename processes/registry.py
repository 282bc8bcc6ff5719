"""Every process in the service, listed explicitly: the hooks it lends the engine and the
tables it adds to the store. (Its endpoints are listed in `api/app.py`.)

A new process adds its line to each list below; nothing is found by module name.
"""

from __future__ import annotations

from engine.hooks import Hooks, OpenedWatch, ProcessHooks, in_turn
from processes.crisis import commands as crisis_commands
from processes.crisis import hooks as crisis_hooks
from processes.crisis.tables import CrisisCompensation, CrisisLink
from processes.followup import commands as followup_commands
from processes.followup import hooks as followup_hooks
from processes.pdca import cycles as pdca_cycles
from processes.reviews import trend_rollup
from processes.service_request import commands as service_request_commands
from processes.service_request.commands import ServiceSlot

HOOKS = Hooks(
    by_process={
        # A complaint that closes opens its satisfaction follow-up, and is added to the
        # trends' hourly roll-up: on closures only, which no escalation rung makes.
        "complaint": ProcessHooks(after_decision=in_turn(followup_commands.after_closure,
                                                         trend_rollup.after_closure),
                                  after_rungs=False),
        "crisis": ProcessHooks(after_decision=crisis_hooks.after_decision,
                               run_batch=crisis_hooks.run_batch,
                               channel_urls=crisis_hooks.channel_urls),
        "followup": ProcessHooks(timer_facts=followup_hooks.timer_facts,
                                 after_decision=followup_hooks.after_decision),
        "pdca": ProcessHooks(timer_facts=pdca_cycles.timer_facts,
                             after_decision=pdca_cycles.after_decision),
        "service_request": ProcessHooks(timer_facts=service_request_commands.timer_facts,
                                        after_decision=service_request_commands.after_decision),
    },
    # A complaint opened is linked to the open crisis of its category, or counted towards
    # a spike that raises a crisis candidate.
    case_opened=(OpenedWatch(watches=crisis_commands.watches_opened,
                             act=crisis_commands.after_open),),
)

# The processes' own tables, registered on the metadata Alembic and the schema test use.
TABLES = (CrisisLink, CrisisCompensation, ServiceSlot)
