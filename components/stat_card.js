// Stat card (Angular `app-stat-card`): icon, label, value, optional sub line, as one element (a dashboard tab
// holds several; seven NiceGUI elements each cost the server ~13 KB per tab). Text only, via interpolation.
// New numbers come as a delta (`show`), not as a props update of the element: re-rendering a custom
// component through its props made the browser restyle ~5x as much per update as changing the text does.
export default {
  template: `
    <q-card class="nicegui-card">
      <div class="nicegui-row row items-center no-wrap gap-3">
        <q-icon :name="icon" size="md" class="text-primary" />
        <div class="nicegui-column gap-0">
          <div class="text-xs uppercase tracking-wide text-gray-500">{{ label }}</div>
          <div class="text-xl font-semibold">{{ shown.value }}</div>
          <div class="text-xs text-gray-500">{{ shown.sub }}</div>
        </div>
      </div>
    </q-card>`,
  props: {
    icon: String,
    label: String,
    value: String,
    sub: String,
  },
  data() {
    return { shown: { value: this.value, sub: this.sub } };
  },
  watch: {
    value(value) {
      this.shown.value = value; // the element was sent again (a reconnect): its props hold the latest numbers
    },
    sub(sub) {
      this.shown.sub = sub;
    },
  },
  methods: {
    show(value, sub) {
      this.shown.value = value;
      this.shown.sub = sub;
    },
  },
};
