from django.apps import AppConfig


class AssaysConfig(AppConfig):
    name = "assays"
    verbose_name = "Assays and instruments"
