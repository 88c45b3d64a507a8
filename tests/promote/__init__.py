"""Tests of quantlab.promote (promoted-strategy artifacts)."""
