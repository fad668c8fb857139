// A bounded feed, newest first. The server sends only the new items (`push`); every string is
// rendered through Vue text interpolation, so keys and values can never become HTML.
export default {
  template: `
    <div class="live-feed column no-wrap">
      <div v-if="!items.length" class="text-gray-500 text-sm">{{ emptyText }}</div>
      <div v-for="item in items" :key="item.id" class="row no-wrap items-center text-sm live-feed-item">
        <span class="font-mono text-gray-500">{{ item.time }}</span>
        <span class="q-badge flex inline items-center no-wrap q-badge--single-line" :class="'bg-' + color(item.kind)">{{ item.kind }}</span>
        <span class="font-mono ellipsis">{{ item.subject }}</span>
        <span v-if="item.detail" class="text-gray-500 ellipsis">{{ item.detail }}</span>
      </div>
    </div>`,
  props: {
    initial: Array,
    limit: Number,
    emptyText: String,
  },
  data() {
    return { items: (this.initial || []).slice(0, this.limit) };
  },
  methods: {
    push(newest) {
      // `newest` is oldest-first, like the events; the feed shows newest first
      const fresh = newest.slice(-this.limit).reverse();
      this.items = fresh.concat(this.items).slice(0, this.limit);
    },
    reset(items) {
      this.items = items.slice(0, this.limit);
    },
    color(kind) {
      return {
        put: "positive", delete: "negative", delete_prefix: "negative", // key changes
        completed: "positive", failed: "negative", // compactions and flushes
        healthy: "positive", unhealthy: "negative", // health probes
        connected: "positive", conflict: "negative", disconnected: "grey-8", // sync devices
      }[kind] || "info";
    },
  },
};
