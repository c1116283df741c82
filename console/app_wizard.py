"""The App's side of the guided deployment (screens/wizard.py): ``D`` on the dashboard, ``:deploy-new`` /
``:wizard``, and ``llmctl deploy --guided`` (the console opened on the wizard)."""

from __future__ import annotations

from typing import Any

WIZARD_COMMANDS = ("deploy-new", "wizard")


class WizardAppMixin:
    """Mixed into :class:`console.app.LlmctlApp`."""

    wizard_at_start: dict[str, Any] | None = None  # set by `llmctl deploy --guided`: the wizard's arguments

    def open_wizard(self, **kwargs: Any) -> None:
        """Open the guided deployment on top of the current screen (the dashboard's stack)."""
        from screens.wizard import WizardScreen

        app: Any = self
        if isinstance(app.screen, WizardScreen):
            return
        open_in = getattr(self, "_wizard_open", None)
        if open_in is not None:
            mode, screen = open_in
            if screen in getattr(app, "_screen_stacks", {}).get(mode, ()) and not screen.closing:
                if mode != app.current_mode:
                    app.switch_mode(mode)  # back to the wizard left open under another mode (e.g. after :builds)
                return
        if "namespace" not in kwargs and getattr(app.settings, "namespace", None):
            kwargs["namespace"] = app.settings.namespace
        screen = WizardScreen(**kwargs)
        self._wizard_open = (app.current_mode, screen)
        app.push_screen(screen)

    def action_deploy_wizard(self) -> None:
        self.open_wizard()

    def on_mount(self) -> None:  # runs besides LlmctlApp.on_mount (Textual calls each class's handler)
        if self.wizard_at_start is not None:
            kwargs = dict(self.wizard_at_start)
            app: Any = self
            app.call_after_refresh(lambda: self.open_wizard(**kwargs))
