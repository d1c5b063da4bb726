"""The one Blender-version switch of the rigging adapters: where an action keeps its F-curves.

Blender 4.4+ (and 5.x, where ``Action.fcurves`` is gone) stores F-curves in a *channelbag*
of the action's *slot* for each animated ID; Blender 4.2 LTS stores them on the action.
Everything that writes keyframes goes through :func:`action_fcurve_collection`.
"""

from __future__ import annotations

import bpy  # noqa: F401  (this module is the bpy side)


def assign_action(id_data: "bpy.types.ID", action: "bpy.types.Action") -> None:
    """Make ``action`` the active action of ``id_data`` (with a slot for it on 4.4+)."""
    anim = id_data.animation_data or id_data.animation_data_create()
    anim.action = action
    if hasattr(action, "slots") and hasattr(anim, "action_slot"):
        if anim.action_slot is None:
            slot = None
            for candidate in action.slots:
                if candidate.target_id_type in (id_data.id_type, "UNSPECIFIED"):
                    slot = candidate
                    break
            if slot is None:
                slot = action.slots.new(id_type=id_data.id_type, name=id_data.name)
            anim.action_slot = slot


def action_fcurve_collection(action: "bpy.types.Action", id_data: "bpy.types.ID"):
    """The F-curve collection of ``action`` for ``id_data`` (supports ``new``, ``find``, ``remove``).

    On slotted actions (4.4+/5.x) this is the channelbag of the slot assigned to ``id_data``
    (created with :func:`assign_action` semantics when missing); on 4.2 it is ``action.fcurves``.
    """
    if not hasattr(action, "slots"):  # Blender < 4.4
        return action.fcurves
    from bpy_extras import anim_utils

    anim = id_data.animation_data
    if anim is None or anim.action != action or anim.action_slot is None:
        assign_action(id_data, action)
        anim = id_data.animation_data
    slot = anim.action_slot
    ensure = getattr(anim_utils, "action_ensure_channelbag_for_slot", None)
    if ensure is not None:
        return ensure(action, slot).fcurves
    bag = anim_utils.action_get_channelbag_for_slot(action, slot)
    if bag is None:  # 4.4: create the layer/strip/channelbag by hand
        layer = action.layers[0] if action.layers else action.layers.new("Layer")
        strip = layer.strips[0] if layer.strips else layer.strips.new(type="KEYFRAME")
        bag = strip.channelbag(slot, ensure=True)
    return bag.fcurves


def new_fcurve(fcurves, data_path: str, index: int, group: str):
    """``fcurves.new`` with a channel group: ``group_name`` on channelbags, ``action_group`` on 4.2."""
    try:
        return fcurves.new(data_path, index=index, group_name=group)
    except TypeError:
        return fcurves.new(data_path, index=index, action_group=group)
