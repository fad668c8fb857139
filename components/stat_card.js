// Stat card (Angular `app-stat-card`): icon, label, value, optional sub line, as one element (a dashboard tab
// holds several; seven NiceGUI elements each cost the server ~13 KB per tab). Text only, via interpolation.
export default {
  template: `
    <q-card class="nicegui-card">
      <div class="nicegui-row row items-center no-wrap gap-3">
        <q-icon :name="icon" size="md" class="text-primary" />
        <div class="nicegui-column gap-0">
          <div class="text-xs uppercase tracking-wide text-gray-500">{{ label }}</div>
          <div class="text-xl font-semibold">{{ value }}</div>
          <div class="text-xs text-gray-500">{{ sub }}</div>
        </div>
      </div>
    </q-card>`,
  props: {
    icon: String,
    label: String,
    value: String,
    sub: String,
  },
};
