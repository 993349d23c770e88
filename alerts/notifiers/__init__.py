"""Notifiers: one small class per channel, each returning sent / retry later / give up."""

from alerts.notification import Delivery, Notification, Notifier, Outcome

__all__ = ["Delivery", "Notification", "Notifier", "Outcome"]
