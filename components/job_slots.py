"""Quasar table slots shared by pages that list background jobs (scrubber, CI/CD): status badge, progress bar."""

from __future__ import annotations

STATUS_SLOT = r'''<q-td :props="props"><q-badge :color="props.row.color">{{ props.value }}</q-badge>
      <div v-if="props.row.error" class="text-negative text-xs">{{ props.row.error }}</div></q-td>'''
PROGRESS_SLOT = r'''<q-td :props="props" style="min-width: 9rem">
      <q-linear-progress :value="props.row.fraction" size="10px" rounded color="primary" />
      <div class="text-xs text-gray-500">{{ props.value }}</div></q-td>'''
