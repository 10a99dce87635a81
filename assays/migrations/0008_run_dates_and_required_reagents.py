"""Truthful run dates (a reason for back-dated runs) and the reagents each assay requires.

The required reagent categories of the seeded catalogue are data: set here on version 1 of
the assays that need them; later versions carry their own.
"""

import django.contrib.postgres.fields
import pgtrigger.compiler
import pgtrigger.migrations
from django.db import migrations, models

from assays.catalogue import REQUIRED_REAGENTS, set_required_reagents


def unset_required_reagents(apps, schema_editor):
    AssayDefinition = apps.get_model("assays", "AssayDefinition")
    AssayDefinition.objects.filter(code__in=REQUIRED_REAGENTS, version=1).update(
        required_reagents=[]
    )


class Migration(migrations.Migration):
    dependencies = [
        ("assays", "0007_release_models_moved"),
        ("batches", "0009_assay_reagent_categories"),
    ]

    operations = [
        pgtrigger.migrations.RemoveTrigger(
            model_name="assaydefinition",
            name="insert_insert",
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name="assaydefinition",
            name="update_update",
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name="assaydefinition",
            name="delete_delete",
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name="assayrun",
            name="insert_insert",
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name="assayrun",
            name="update_update",
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name="assayrun",
            name="delete_delete",
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name="instrumentfile",
            name="insert_insert",
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name="instrumentfile",
            name="update_update",
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name="instrumentfile",
            name="delete_delete",
        ),
        migrations.AddField(
            model_name="assaydefinition",
            name="required_reagents",
            field=django.contrib.postgres.fields.ArrayField(
                base_field=models.CharField(
                    choices=[
                        ("medium", "Medium"),
                        ("serum", "Serum / platelet lysate"),
                        ("supplement", "Supplement"),
                        ("kit", "Kit"),
                        ("lal_reagent", "LAL reagent (endotoxin)"),
                        ("bca_kit", "BCA protein assay kit"),
                        ("qpcr_master_mix", "qPCR master mix"),
                        ("other", "Other"),
                    ],
                    max_length=20,
                ),
                blank=True,
                default=list,
                help_text="Categories of reagent lot a run of this assay must name (e.g. the LAL reagent of an endotoxin test).",
                size=None,
            ),
        ),
        migrations.AddField(
            model_name="assaydefinitionevent",
            name="required_reagents",
            field=django.contrib.postgres.fields.ArrayField(
                base_field=models.CharField(
                    choices=[
                        ("medium", "Medium"),
                        ("serum", "Serum / platelet lysate"),
                        ("supplement", "Supplement"),
                        ("kit", "Kit"),
                        ("lal_reagent", "LAL reagent (endotoxin)"),
                        ("bca_kit", "BCA protein assay kit"),
                        ("qpcr_master_mix", "qPCR master mix"),
                        ("other", "Other"),
                    ],
                    max_length=20,
                ),
                blank=True,
                default=list,
                help_text="Categories of reagent lot a run of this assay must name (e.g. the LAL reagent of an endotoxin test).",
                size=None,
            ),
        ),
        migrations.AddField(
            model_name="assayrun",
            name="backdate_reason",
            field=models.TextField(
                blank=True,
                default="",
                help_text="Why the run was recorded more than BACKDATE_DAYS after it started; a run with a reason is flagged as back-dated on review.",
            ),
        ),
        migrations.AddField(
            model_name="assayrunevent",
            name="backdate_reason",
            field=models.TextField(
                blank=True,
                default="",
                help_text="Why the run was recorded more than BACKDATE_DAYS after it started; a run with a reason is flagged as back-dated on review.",
            ),
        ),
        migrations.AddField(
            model_name="instrumentfile",
            name="reagent_lot_ids",
            field=django.contrib.postgres.fields.ArrayField(
                base_field=models.PositiveIntegerField(),
                blank=True,
                default=list,
                help_text="Ids of the reagent lots the run used, named when the file was sent.",
                size=None,
            ),
        ),
        migrations.AddField(
            model_name="instrumentfileevent",
            name="reagent_lot_ids",
            field=django.contrib.postgres.fields.ArrayField(
                base_field=models.PositiveIntegerField(),
                blank=True,
                default=list,
                help_text="Ids of the reagent lots the run used, named when the file was sent.",
                size=None,
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="assaydefinition",
            trigger=pgtrigger.compiler.Trigger(
                name="insert_insert",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func='INSERT INTO "assays_assaydefinitionevent" ("applies_to", "code", "created_at", "created_by_id", "id", "is_current", "method", "name", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "required_reagents", "sop_reference", "version", "void_reason", "voided_at", "voided_by_id") VALUES (NEW."applies_to", NEW."code", NEW."created_at", NEW."created_by_id", NEW."id", NEW."is_current", NEW."method", NEW."name", _pgh_attach_context(), clock_timestamp(), \'insert\', NEW."id", NEW."required_reagents", NEW."sop_reference", NEW."version", NEW."void_reason", NEW."voided_at", NEW."voided_by_id"); RETURN NULL;',
                    hash="f18ba4fe5611d8e834baf595f84a80b84c737f25",
                    operation="INSERT",
                    pgid="pgtrigger_insert_insert_a64ad",
                    table="assays_assaydefinition",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="assaydefinition",
            trigger=pgtrigger.compiler.Trigger(
                name="update_update",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    condition="WHEN (OLD.* IS DISTINCT FROM NEW.*)",
                    func='INSERT INTO "assays_assaydefinitionevent" ("applies_to", "code", "created_at", "created_by_id", "id", "is_current", "method", "name", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "required_reagents", "sop_reference", "version", "void_reason", "voided_at", "voided_by_id") VALUES (NEW."applies_to", NEW."code", NEW."created_at", NEW."created_by_id", NEW."id", NEW."is_current", NEW."method", NEW."name", _pgh_attach_context(), clock_timestamp(), \'update\', NEW."id", NEW."required_reagents", NEW."sop_reference", NEW."version", NEW."void_reason", NEW."voided_at", NEW."voided_by_id"); RETURN NULL;',
                    hash="fd94333a4add2c0697364be870745a2607bf6aaa",
                    operation="UPDATE",
                    pgid="pgtrigger_update_update_d476e",
                    table="assays_assaydefinition",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="assaydefinition",
            trigger=pgtrigger.compiler.Trigger(
                name="delete_delete",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func='INSERT INTO "assays_assaydefinitionevent" ("applies_to", "code", "created_at", "created_by_id", "id", "is_current", "method", "name", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "required_reagents", "sop_reference", "version", "void_reason", "voided_at", "voided_by_id") VALUES (OLD."applies_to", OLD."code", OLD."created_at", OLD."created_by_id", OLD."id", OLD."is_current", OLD."method", OLD."name", _pgh_attach_context(), clock_timestamp(), \'delete\', OLD."id", OLD."required_reagents", OLD."sop_reference", OLD."version", OLD."void_reason", OLD."voided_at", OLD."voided_by_id"); RETURN NULL;',
                    hash="54e54b39fd3a036df3d18096723e978226f84182",
                    operation="DELETE",
                    pgid="pgtrigger_delete_delete_6741b",
                    table="assays_assaydefinition",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="assayrun",
            trigger=pgtrigger.compiler.Trigger(
                name="insert_insert",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func='INSERT INTO "assays_assayrunevent" ("assay_id", "backdate_reason", "created_at", "created_by_id", "ended_at", "external_id", "id", "instrument_id", "metrics_computed_at", "operator_id", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "retest_of_id", "reviewed_by_id", "source", "source_file_id", "started_at", "status", "status_reason", "void_reason", "voided_at", "voided_by_id") VALUES (NEW."assay_id", NEW."backdate_reason", NEW."created_at", NEW."created_by_id", NEW."ended_at", NEW."external_id", NEW."id", NEW."instrument_id", NEW."metrics_computed_at", NEW."operator_id", _pgh_attach_context(), clock_timestamp(), \'insert\', NEW."id", NEW."retest_of_id", NEW."reviewed_by_id", NEW."source", NEW."source_file_id", NEW."started_at", NEW."status", NEW."status_reason", NEW."void_reason", NEW."voided_at", NEW."voided_by_id"); RETURN NULL;',
                    hash="93f752efb845f2d3111e158e10aac360d60132a4",
                    operation="INSERT",
                    pgid="pgtrigger_insert_insert_e6638",
                    table="assays_assayrun",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="assayrun",
            trigger=pgtrigger.compiler.Trigger(
                name="update_update",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    condition="WHEN (OLD.* IS DISTINCT FROM NEW.*)",
                    func='INSERT INTO "assays_assayrunevent" ("assay_id", "backdate_reason", "created_at", "created_by_id", "ended_at", "external_id", "id", "instrument_id", "metrics_computed_at", "operator_id", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "retest_of_id", "reviewed_by_id", "source", "source_file_id", "started_at", "status", "status_reason", "void_reason", "voided_at", "voided_by_id") VALUES (NEW."assay_id", NEW."backdate_reason", NEW."created_at", NEW."created_by_id", NEW."ended_at", NEW."external_id", NEW."id", NEW."instrument_id", NEW."metrics_computed_at", NEW."operator_id", _pgh_attach_context(), clock_timestamp(), \'update\', NEW."id", NEW."retest_of_id", NEW."reviewed_by_id", NEW."source", NEW."source_file_id", NEW."started_at", NEW."status", NEW."status_reason", NEW."void_reason", NEW."voided_at", NEW."voided_by_id"); RETURN NULL;',
                    hash="5529c93566631df9ee6f5a4e0197939420dc0290",
                    operation="UPDATE",
                    pgid="pgtrigger_update_update_2030a",
                    table="assays_assayrun",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="assayrun",
            trigger=pgtrigger.compiler.Trigger(
                name="delete_delete",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func='INSERT INTO "assays_assayrunevent" ("assay_id", "backdate_reason", "created_at", "created_by_id", "ended_at", "external_id", "id", "instrument_id", "metrics_computed_at", "operator_id", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "retest_of_id", "reviewed_by_id", "source", "source_file_id", "started_at", "status", "status_reason", "void_reason", "voided_at", "voided_by_id") VALUES (OLD."assay_id", OLD."backdate_reason", OLD."created_at", OLD."created_by_id", OLD."ended_at", OLD."external_id", OLD."id", OLD."instrument_id", OLD."metrics_computed_at", OLD."operator_id", _pgh_attach_context(), clock_timestamp(), \'delete\', OLD."id", OLD."retest_of_id", OLD."reviewed_by_id", OLD."source", OLD."source_file_id", OLD."started_at", OLD."status", OLD."status_reason", OLD."void_reason", OLD."voided_at", OLD."voided_by_id"); RETURN NULL;',
                    hash="89e04d30f56225eb636414b815306eee9cfd7d5e",
                    operation="DELETE",
                    pgid="pgtrigger_delete_delete_1c427",
                    table="assays_assayrun",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="instrumentfile",
            trigger=pgtrigger.compiler.Trigger(
                name="insert_insert",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func='INSERT INTO "assays_instrumentfileevent" ("assay_code", "created_at", "detected_format", "error", "format_hint", "id", "instrument_id", "original_name", "parsed_at", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "reagent_lot_ids", "sample_identifier", "sha256", "size", "status", "uploaded_by_id") VALUES (NEW."assay_code", NEW."created_at", NEW."detected_format", NEW."error", NEW."format_hint", NEW."id", NEW."instrument_id", NEW."original_name", NEW."parsed_at", _pgh_attach_context(), clock_timestamp(), \'insert\', NEW."id", NEW."reagent_lot_ids", NEW."sample_identifier", NEW."sha256", NEW."size", NEW."status", NEW."uploaded_by_id"); RETURN NULL;',
                    hash="48eb7631b1d17fe281f3bb0e48bb86352137410f",
                    operation="INSERT",
                    pgid="pgtrigger_insert_insert_7282c",
                    table="assays_instrumentfile",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="instrumentfile",
            trigger=pgtrigger.compiler.Trigger(
                name="update_update",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    condition="WHEN (OLD.* IS DISTINCT FROM NEW.*)",
                    func='INSERT INTO "assays_instrumentfileevent" ("assay_code", "created_at", "detected_format", "error", "format_hint", "id", "instrument_id", "original_name", "parsed_at", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "reagent_lot_ids", "sample_identifier", "sha256", "size", "status", "uploaded_by_id") VALUES (NEW."assay_code", NEW."created_at", NEW."detected_format", NEW."error", NEW."format_hint", NEW."id", NEW."instrument_id", NEW."original_name", NEW."parsed_at", _pgh_attach_context(), clock_timestamp(), \'update\', NEW."id", NEW."reagent_lot_ids", NEW."sample_identifier", NEW."sha256", NEW."size", NEW."status", NEW."uploaded_by_id"); RETURN NULL;',
                    hash="1811e01316c28abd53629edd51dbd13cfd48a02b",
                    operation="UPDATE",
                    pgid="pgtrigger_update_update_da22a",
                    table="assays_instrumentfile",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="instrumentfile",
            trigger=pgtrigger.compiler.Trigger(
                name="delete_delete",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func='INSERT INTO "assays_instrumentfileevent" ("assay_code", "created_at", "detected_format", "error", "format_hint", "id", "instrument_id", "original_name", "parsed_at", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "reagent_lot_ids", "sample_identifier", "sha256", "size", "status", "uploaded_by_id") VALUES (OLD."assay_code", OLD."created_at", OLD."detected_format", OLD."error", OLD."format_hint", OLD."id", OLD."instrument_id", OLD."original_name", OLD."parsed_at", _pgh_attach_context(), clock_timestamp(), \'delete\', OLD."id", OLD."reagent_lot_ids", OLD."sample_identifier", OLD."sha256", OLD."size", OLD."status", OLD."uploaded_by_id"); RETURN NULL;',
                    hash="e181fc179fac267c7aa05652b25b925de36592df",
                    operation="DELETE",
                    pgid="pgtrigger_delete_delete_932ef",
                    table="assays_instrumentfile",
                    when="AFTER",
                ),
            ),
        ),
        migrations.RunPython(set_required_reagents, unset_required_reagents),
    ]
